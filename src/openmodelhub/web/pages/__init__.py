"""Page handlers. Importing this package registers every page's route (web/routes.py).

The import order is the order of the repo tabs the modules add: discussions before repo_settings."""

from openmodelhub.web.pages import (
    account,
    discussions,
    edit,
    listing,
    repo,
    repo_settings,
    settings,
    static,
)

__all__ = ["account", "discussions", "edit", "listing", "repo", "repo_settings", "settings", "static"]
