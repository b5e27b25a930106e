"""RabbitMQ helpers for tests: unique queue prefixes, message counts, and deleting a test's queues."""

import json
import uuid

import pika

from openmodelhub.jobs.dramatiq_engine import queue_names
from tests.support.stack import AMQP_URL


def unique_prefix() -> str:
    return f"omh-test-{uuid.uuid4().hex[:12]}"


def _channel() -> tuple[pika.BlockingConnection, "pika.adapters.blocking_connection.BlockingChannel"]:
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    return conn, conn.channel()


def message_counts(prefix: str) -> dict[str, tuple[int, int]]:
    """(ready, consumers) of each queue of `prefix` that exists."""
    out: dict[str, tuple[int, int]] = {}
    conn, ch = _channel()
    try:
        for name in queue_names(prefix):
            try:
                ok = ch.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker:  # 404: no such queue
                ch = conn.channel()
                continue
            out[name] = (ok.method.message_count, ok.method.consumer_count)
    finally:
        conn.close()
    return out


def delete_queues(prefix: str) -> None:
    conn, ch = _channel()
    try:
        for name in queue_names(prefix):
            ch.queue_delete(name)
    finally:
        conn.close()


def waiting_jobs(prefix: str) -> list[str]:
    """Names of the jobs waiting in the hub's queue and delay queue (read without taking them)."""
    names: list[str] = []
    conn, ch = _channel()
    try:
        for name in queue_names(prefix)[:2]:
            while True:
                method, _, body = ch.basic_get(name, auto_ack=False)
                if method is None:
                    break
                names.append(json.loads(body)["actor_name"])
    finally:
        conn.close()  # unacknowledged: RabbitMQ puts them back
    return names
