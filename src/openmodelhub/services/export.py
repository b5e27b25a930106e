"""Export a repo as a bare git repository: the proof that our object ids are git's own.

LFS files are exported as pointer files, exactly as git-lfs keeps them in git.
"""

from pathlib import Path

from dulwich.objects import Blob as GitBlobObject
from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo as GitRepo

from openmodelhub.db.models import Repo
from openmodelhub.protocol.digests import lfs_pointer
from openmodelhub.services.content import ContentService
from openmodelhub.services.gitstore import MODE_DIR, GitStore
from openmodelhub.services.hub import Hub
from openmodelhub.services.repos import RepoService


def export_bare(hub: Hub, git: GitStore, repos: RepoService, repo: Repo, dest: Path) -> int:
    """Write every ref of `repo` with all reachable objects into a new bare repo. Returns the object count."""
    dest.mkdir(parents=True, exist_ok=False)
    target = GitRepo.init_bare(str(dest))
    store = target.object_store
    seen: set[str] = set()

    def add_tree(oid: str) -> None:
        if oid in seen:
            return
        seen.add(oid)
        tree = git.get_tree(oid)
        blob_ids = []
        for item in tree.iteritems():
            child = item.sha.decode()
            if item.mode == MODE_DIR:
                add_tree(child)
            elif child not in seen:
                blob_ids.append(child)
        for oid_, meta in git.blob_metas(blob_ids).items():
            seen.add(oid_)
            if meta.is_lfs:
                data = lfs_pointer(meta.sha256, meta.size)
            else:
                with ContentService.of(hub).open(meta.sha256) as f:
                    data = f.read()
            blob = GitBlobObject.from_string(data)
            assert blob.id.decode() == oid_, f"blob {oid_} does not hash to its id"
            store.add_object(blob)
        store.add_object(tree)

    def add_commit(oid: str) -> None:
        stack = [oid]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            commit = git.get_commit(current)
            assert isinstance(commit, Commit)
            add_tree(commit.tree.decode())
            store.add_object(commit)
            stack.extend(p.decode() for p in commit.parents)

    refs = repos.refs(repo)
    for ref in refs:
        add_commit(ref.target)
    for ref in refs:
        target.refs[Ref(ref.name.encode())] = ObjectID(ref.target.encode())
    target.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/main"))
    return len(seen)
