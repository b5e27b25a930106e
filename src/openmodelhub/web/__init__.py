"""The browser UI: server-rendered pages (Jinja2) on the hub's services, with its own static files.

web/app.py is the entry point api/app.py mounts; web/routes.py the route table (never a protocol path);
web/pages/ the handlers; web/cards.py the sanitized Markdown of model and dataset cards.
"""
