"""Home, model and dataset search (filters and sort), and the page of a user or organization.

Listings go through `RepoService.list`, the code behind `/api/models`: the same visibility rules and the
same filters (a task, library, `license:x` or any tag must all be among a repo's tags).
"""

from starlette.responses import Response

from openmodelhub.protocol.names import RepoType
from openmodelhub.services.repos import ListQuery
from openmodelhub.web.context import Page
from openmodelhub.web.routes import page

PAGE_SIZE = 30
HOME_SIZE = 8
# The page's sort names -> ListQuery sorts.
SORTS = {"downloads": "downloads", "likes": "likes", "updated": "lastModified", "created": "createdAt"}
SORT_LABELS = {
    "downloads": "Most downloads",
    "likes": "Most likes",
    "updated": "Recently updated",
    "created": "Newest",
}


@page("/")
def home(p: Page) -> Response:
    def top(repo_type: RepoType) -> list:
        q = ListQuery(repo_type, [], None, [], "downloads", 0, HOME_SIZE)
        return p.svc.repos.list(p.principal, q)

    return p.render("home.html", models=top(RepoType.MODEL), datasets=top(RepoType.DATASET))


@page("/models")
def models(p: Page) -> Response:
    return _listing(p, RepoType.MODEL)


@page("/datasets")
def datasets(p: Page) -> Response:
    return _listing(p, RepoType.DATASET)


def _page_number(text: str) -> int:
    return max(1, min(int(text), 10_000)) if text.isdigit() else 1


def _listing(p: Page, repo_type: RepoType) -> Response:
    qp = p.request.query_params
    search, author = qp.get("search", "").strip(), qp.get("author", "").strip()
    task, library, license_ = (qp.get(k, "").strip() for k in ("task", "library", "license"))
    tags = [t.strip() for t in qp.getlist("tag") if t.strip()]
    sort = qp.get("sort", "downloads")
    sort = sort if sort in SORTS else "downloads"
    chosen = {"search": search, "author": author, "task": task, "library": library, "license": license_}
    number = _page_number(qp.get("p", "1"))
    filters = [task, library, *tags, f"license:{license_}" if license_ else ""]
    q = ListQuery(
        repo_type=repo_type,
        search=[search] if search else [],
        author=author or None,
        filters=[f for f in filters if f],
        sort=SORTS[sort],
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    repos = p.svc.repos.list(p.principal, q)
    return p.render(
        "listing.html",
        repo_type=repo_type.value,
        repos=repos[:PAGE_SIZE],
        more=len(repos) > PAGE_SIZE,
        number=number,
        chosen={**chosen, "tag": tags, "sort": sort},
        facets=p.svc.browse.facets(p.principal, repo_type),
        sorts=SORT_LABELS,
    )


@page("/{ns}")
def namespace(p: Page, ns: str) -> Response:
    overview = p.svc.orgs.overview(p.principal, ns)

    def of(repo_type: RepoType) -> list:
        return p.svc.repos.list(p.principal, ListQuery(repo_type, [], ns, [], "lastModified", 0, 200))

    return p.render(
        "namespace.html", overview=overview, models=of(RepoType.MODEL), datasets=of(RepoType.DATASET)
    )
