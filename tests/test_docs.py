"""The README and docs: generated sections are what the committed run, study and bench wrote
(not typed), links resolve, the README stays a front page, and its commands exist as shown."""

import ast
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from lrstudy.core import optimizers, schedules
from lrstudy.core.errors import UserError
from lrstudy.experiments import run_dvc
from lrstudy.pages import replace_marked_block, update_blocks
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
README_LIMIT = 10_000  # characters: a front page


def study_claims(grid):
    """The reference reports' claims, a sentence and a table after the notes under a study's
    table: what its `verdict-<grid>` block holds."""
    paragraphs = (REPO_ROOT / f"metrics/study-{grid}.md").read_text().split("\n\n")
    assert paragraphs[2].startswith("The reference reports' claims, tested")
    return "\n\n".join(paragraphs[2:4]).strip() + "\n"


# (page, marker) -> what the pipeline, the study or the bench wrote
GENERATED = {
    ("README.md", "verdict-reference"): lambda: study_claims("reference"),
    ("docs/reproducibility.md", "table"): lambda: (REPO_ROOT / "metrics/table.md").read_text(),
    ("docs/study.md", "study-reference"): lambda: (
        REPO_ROOT / "metrics/study-reference.md"
    ).read_text(),
    ("docs/study.md", "study-modern"): lambda: (REPO_ROOT / "metrics/study-modern.md").read_text(),
    ("docs/performance.md", "bench"): lambda: (REPO_ROOT / "bench/results.md").read_text(),
    ("docs/pipeline.md", "schedules"): schedules.markdown_table,
    ("docs/pipeline.md", "optimizers"): optimizers.markdown_table,
}


COMMITTED_GRIDS = sorted(
    path.name.removeprefix("study-").removesuffix("-runs.json")
    for path in (REPO_ROOT / "metrics").glob("study-*-runs.json")
)
PAGES_OF_STUDIES = ("README.md", "docs/study.md")


def study_outputs(root, grid):
    """{path: bytes} of what the study publishes for a grid: its table, figures and pages."""
    paths = [
        root / f"metrics/study-{grid}.md",
        root / f"metrics/study-{grid}.csv",
        *sorted((root / f"plots/study-{grid}").iterdir()),
        *(root / page for page in PAGES_OF_STUDIES),
    ]
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}


def test_every_committed_grid_is_published_as_its_runs_reanalysed_give_it(tmp_path):
    assert {"reference", "modern"} <= set(COMMITTED_GRIDS)
    for name in ("params.yaml", *PAGES_OF_STUDIES):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    for grid in COMMITTED_GRIDS:
        (tmp_path / "metrics").mkdir(exist_ok=True)
        shutil.copyfile(
            REPO_ROOT / f"metrics/study-{grid}-runs.json",
            tmp_path / f"metrics/study-{grid}-runs.json",
        )
        blocks = (f"<!-- study-{grid}:start -->", f"<!-- verdict-{grid}:start -->")
        with_blocks = [
            page
            for page in PAGES_OF_STUDIES
            if any(block in (REPO_ROOT / page).read_text(encoding="utf-8") for block in blocks)
        ]
        pages = [arg for page in with_blocks for arg in ("--page", page)]
        command = [sys.executable, "-m", "lrstudy.study", "--grid", grid, "--reanalyse", *pages]
        run(command, tmp_path, PYTHONPATH=str(REPO_ROOT))
        rebuilt, published = study_outputs(tmp_path, grid), study_outputs(REPO_ROOT, grid)
        assert rebuilt.keys() == published.keys()
        stale = [path for path in published if rebuilt[path] != published[path]]
        assert not stale, (
            f"{', '.join(stale)}: not what the {grid} runs give; run `python -m lrstudy.study "
            f"--grid {grid} --reanalyse --page README.md --page docs/study.md`"
        )


def test_the_tuned_grid_across_epoch_budgets_is_what_its_runs_give(tmp_path):
    """docs/study.md's comparison of the `tuned` grid at 5, 10, 20 and 50 epochs, rebuilt by its
    documented command from the committed runs files."""
    regimes = ("5-epochs", "10-epochs", "20-epochs")
    for name in ("params.yaml", "docs/study.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    for study in ("tuned", *(f"tuned+{regime}" for regime in regimes)):
        (tmp_path / "metrics").mkdir(exist_ok=True)
        runs = f"metrics/study-{study}-runs.json"
        shutil.copyfile(REPO_ROOT / runs, tmp_path / runs)
    command = [sys.executable, "-m", "lrstudy.study", "--grid", "tuned", "--across-regimes"]
    run(
        [*command, ",".join(regimes), "--page", "docs/study.md"],
        tmp_path,
        PYTHONPATH=str(REPO_ROOT),
    )
    for path in ("metrics/study-tuned-regimes.md", "plots/study-tuned-regimes/regimes.png"):
        assert (tmp_path / path).read_bytes() == (REPO_ROOT / path).read_bytes(), path
    assert (tmp_path / "docs/study.md").read_bytes() == (REPO_ROOT / "docs/study.md").read_bytes()


def troubleshooting_lines():
    """The lines docs/troubleshooting.md explains: each table row's first `code`."""
    rows = (REPO_ROOT / "docs/troubleshooting.md").read_text(encoding="utf-8").splitlines()
    found = (re.match(r"^\| (`+)(.+?)\1", row) for row in rows)
    return [match.group(2).strip() for match in found if match]


def string_constants(folder):
    """Every string constant of the Python files under `folder` (an f-string's literal parts,
    a regex's escapes dropped)."""
    strings = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value.replace("\\", ""))
    return strings


PLACEHOLDERS = (
    r"'?\.\.\.'?",  # ... and '...'
    r"<[^>]+>",
    r"\bPAGE\b",
    r"[\w.-]+/[\w./-]+",  # a path
    r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)",  # a number
)


def wording(line):
    """A documented line's longest stretch of fixed wording: no `error:` (`params.yaml:`) or
    `stage: warning:` prefix, no `...` or `<placeholder>`, no example paths or numbers."""
    line = re.sub(r"^(error|\w+: warning|interrupted): (params\.yaml: )?", "", line)
    parts = re.split("|".join(PLACEHOLDERS), line)
    return max((part.strip() for part in parts), key=len)


TEST_STRINGS = string_constants(REPO_ROOT / "tests")
DVC_OWN = "ERROR: "  # DVC's lines, which the page explains but the project does not print


@pytest.mark.parametrize("line", troubleshooting_lines())
def test_every_line_troubleshooting_explains_is_asserted_by_a_test(line):
    if line.startswith(DVC_OWN):
        pytest.skip("DVC's own line")
    fixed = wording(line)
    assert len(fixed) >= 12, f"too little fixed wording to look for: {fixed!r}"
    assert any(fixed in text for text in TEST_STRINGS), f"no test asserts {fixed!r}"


def marked_block(text, marker):
    found = re.search(f"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", text, re.DOTALL)
    assert found, f"no {marker} block"
    return found.group(1)


@pytest.mark.parametrize("page, marker", GENERATED, ids="/".join)
def test_generated_sections_equal_what_wrote_them(page, marker):
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    assert marked_block(text, marker) == GENERATED[page, marker]()


def test_the_readme_is_a_front_page():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8")) <= README_LIMIT


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
    missing = [link for link in links if "://" not in link and not (page.parent / link).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def readme_commands():
    """Every command line of the README's bash blocks, its comment cut off."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("command", readme_commands())
def test_readme_commands_exist_as_shown(command):
    words = shlex.split(command)
    if words[0] == "make":
        dry_run = subprocess.run(["make", "-n", *words[1:]], cwd=REPO_ROOT, capture_output=True)
        assert dry_run.returncode == 0, dry_run.stderr
    elif words[0] == "python" and words[1] == "-m":
        assert importlib.util.find_spec(words[2]) is not None
    elif words[0] == "dvc":
        subcommand = [word for word in words[1:3] if not word.startswith("-")]
        assert run_dvc(*subcommand, "--help", cwd=REPO_ROOT, check=False).returncode == 0
    else:
        assert words[0] == "source", f"unknown command {command!r}"


def test_a_marked_block_is_replaced_and_a_missing_one_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- x:start -->\nold\n<!-- x:end -->\nrest\n")
    replace_marked_block(page, "x", "new\n")
    assert page.read_text() == "intro\n<!-- x:start -->\nnew\n<!-- x:end -->\nrest\n"
    with pytest.raises(UserError, match="has no `<!-- y:start -->`"):
        replace_marked_block(page, "y", "new\n")
    assert update_blocks(page, {"x": "newer\n", "y": "absent\n"}) == ["x"]
    assert page.read_text() == "intro\n<!-- x:start -->\nnewer\n<!-- x:end -->\nrest\n"


def test_every_documented_dask_server_listens_on_an_address_it_names():
    """Dask's TCP has no login: a scheduler or worker on every interface lets anyone who
    reaches it run code as its user (docs/sharing.md, "Who can reach a scheduler")."""
    commands = [
        line
        for page in PAGES
        for line in page.read_text(encoding="utf-8").splitlines()
        if re.search(r"dask (scheduler|worker) (tcp://|-)", line) or "dask ssh " in line
    ]
    assert len(commands) >= 4
    for line in commands:
        assert "--host " in line and "dask ssh " not in line, line
