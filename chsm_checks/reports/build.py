"""After a run (or a merge): the reports built from ``summary.json`` and the evidence.

The configuration matrix and the OSCAL assessment results always; the single-file Allure HTML
report when the Allure 3 command line (``npm install -g allure``) is on PATH. The OSCAL document is
validated against the official NIST schema before the run is sealed. pytest's junit.xml and
cucumber.json are set right first: the findings moved to where junit-10.xsd allows them
(:mod:`.junit`), each scenario's Cucumber status made to agree with summary.json (:mod:`.cucumber`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..checks.catalogue import load_catalogue
from ..errors import CouldNotEvaluate
from ..lifecycle.summary import SUMMARY_FILE, RunSummary
from .cucumber import write_agreeing
from .junit import conform as conform_junit
from .matrix import write_matrix
from .offline_html import remove_allure_analytics, require_offline
from .oscal import DEFAULT_OSCAL_VERSION, validate_file, write_assessment_results

ALLURE_INSTALL = "npm install -g allure"


def allure_html(run_dir: Path) -> str:
    """Build ``allure-report/index.html`` (one self-contained file); a sentence saying what happened."""
    allure = shutil.which("allure")
    if allure is None:
        return f"no Allure HTML report: the Allure 3 command line is not installed ({ALLURE_INSTALL})"
    probe = subprocess.run([allure, "--version"], capture_output=True, text=True, check=False)
    version = probe.stdout.strip()
    if not version.startswith("3."):
        found = version or "of unknown version"
        return f"no Allure HTML report: `allure` is {found}, not 3.x ({ALLURE_INSTALL})"
    # Absolute paths: allure runs in the run directory, so it reads no allurerc from elsewhere.
    run_dir = run_dir.resolve()
    out = run_dir / "allure-report"
    done = subprocess.run(
        [allure, "awesome", str(run_dir / "allure-results"), "-o", str(out), "--single-file"],
        capture_output=True, text=True, check=False, cwd=run_dir,
    )  # fmt: skip
    index = out / "index.html"
    if done.returncode != 0 or not index.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CouldNotEvaluate(f"allure exited {done.returncode} building {out}: {tail[0]}")
    removed = remove_allure_analytics(index)
    require_offline(index)
    return f"Allure HTML report: {index}" + (" (Allure's analytics tag removed)" if removed else "")


def build_reports(
    run_dir: Path, *, oscal_version: str = DEFAULT_OSCAL_VERSION, html: bool = True, no_html: str = ""
) -> list[str]:
    """Set junit.xml and cucumber.json right; write the matrix, the OSCAL document (validated) and, if
    possible and ``html``, the Allure HTML report; else ``no_html``, if given, says why it was not."""
    notes = []
    # Its scenarios read from the file as each report goes through them: a fleet's are never all held.
    summary = RunSummary.read_streamed(run_dir / SUMMARY_FILE)
    if (run_dir / "junit.xml").is_file():  # a merged bundle keeps its shards' under shards/
        conform_junit(run_dir / "junit.xml", summary)
    write_agreeing(run_dir, summary)
    _, page = write_matrix(run_dir, summary)
    require_offline(page)
    notes.append(f"configuration matrix: {page}")
    document_path = write_assessment_results(
        run_dir, load_catalogue(), summary=summary, oscal_version=oscal_version
    )
    # What was written is what is validated: read back from disk (a fleet's, a piece at a time).
    problems = validate_file(document_path, oscal_version)
    if problems:
        raise CouldNotEvaluate(
            f"{document_path} does not validate against OSCAL {oscal_version}: {problems[0]}"
        )
    notes.append(f"OSCAL {oscal_version} assessment results (valid): {document_path}")
    if html:
        notes.append(allure_html(run_dir))
    elif no_html:
        notes.append(no_html)
    return notes
