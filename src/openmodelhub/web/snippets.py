"""'Use this model' snippets: code that downloads a repo from this hub (its URL, not huggingface.co)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    key: str
    title: str
    language: str  # a Pygments lexer name
    code: str


def _py(s: str) -> str:
    """A double-quoted Python string literal (for a value from the request's Host header, or a repo id)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def snippets(
    repo_type: str, repo_id: str, base_url: str, *, private: bool, pipeline_tag: str | None = None
) -> list[Snippet]:
    auth = (
        "\n# a private repo: first `hf auth login` (or set HF_TOKEN) with a token from this hub"
        if private
        else ""
    )
    endpoint = f'os.environ["HF_ENDPOINT"] = {_py(base_url)}  # before importing the libraries'
    if repo_type == "dataset":
        return [
            Snippet(
                "datasets",
                "datasets",
                "python",
                f"import os\n{endpoint}{auth}\nfrom datasets import load_dataset\n\n"
                f"ds = load_dataset({_py(repo_id)})\n",
            ),
            Snippet(
                "huggingface_hub",
                "huggingface_hub",
                "python",
                f"from huggingface_hub import snapshot_download{auth}\n\n"
                f'path = snapshot_download({_py(repo_id)}, repo_type="dataset", endpoint={_py(base_url)})\n',
            ),
            Snippet(
                "hf",
                "hf CLI",
                "bash",
                f"HF_ENDPOINT={base_url} hf download {repo_id} --repo-type dataset\n",
            ),
        ]
    if pipeline_tag:
        body = (
            f"from transformers import pipeline\n\n"
            f"pipe = pipeline({_py(pipeline_tag)}, model={_py(repo_id)})\n"
        )
    else:
        body = (
            "from transformers import AutoModel, AutoTokenizer\n\n"
            f"tokenizer = AutoTokenizer.from_pretrained({_py(repo_id)})\n"
            f"model = AutoModel.from_pretrained({_py(repo_id)})\n"
        )
    return [
        Snippet("transformers", "transformers", "python", f"import os\n{endpoint}{auth}\n{body}"),
        Snippet(
            "huggingface_hub",
            "huggingface_hub",
            "python",
            f"from huggingface_hub import snapshot_download{auth}\n\n"
            f"path = snapshot_download({_py(repo_id)}, endpoint={_py(base_url)})\n",
        ),
        Snippet("hf", "hf CLI", "bash", f"HF_ENDPOINT={base_url} hf download {repo_id}\n"),
    ]
