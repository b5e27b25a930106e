"""Shared vocabulary of the hub: names, digests, headers, error codes and time formats.

Nothing in here talks to a database, a disk or the network.
"""
