"""Page handlers. Importing this package registers every page's route (web/routes.py)."""

from openmodelhub.web.pages import account, edit, listing, repo, static

__all__ = ["account", "edit", "listing", "repo", "static"]
