"""The Spark session vigil starts, the files it reads, and Spark's errors in a user's words.

pyspark is imported here, when a function is called, never when `vigil` or the CLI loads:
it is the optional `spark` extra, and starting it costs a JVM.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.errors import InputError, VigilError
from vigil.measure.reading import FORMATS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL_HINT = "pip install 'vigil-monitor[spark]'"
DEFAULT_MASTER = "local[*]"


def require_pyspark() -> Any:
    """The pyspark module, or a VigilError saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise VigilError(
            f"the Spark engine needs pyspark, which is not installed; install it with "
            f"`{INSTALL_HINT}` (on a cluster, on the executors too)."
        ) from None
    return pyspark


LOG_CONFIG = Path(__file__).with_name("log4j2.properties")


def spark_session(master: str | None = None, *, app: str = "vigil") -> SparkSession:
    """The active Spark session, or a new one on `master` (default `local[*]`).

    The session's time zone is UTC, so windows start at UTC midnights, and Arrow batches
    hold 65,536 rows (summaries pay a little per batch). The driver's JVM logs warnings but
    not Spark's start-up notices (`log4j2.properties` beside this module), unless
    $SPARK_CONF_DIR has a log configuration. A local master runs the executors' Python with
    this interpreter (unless $PYSPARK_PYTHON says otherwise), so they import this vigil.
    """
    require_pyspark()
    with quiet_pandas_warning():
        from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    check_java()
    master = master or DEFAULT_MASTER
    builder = (
        SparkSession.builder.appName(app)
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        # summaries pay per batch (a sketch update, a search of the fine edges per column):
        # batches of 64Ki rows rather than Spark's 10,000
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
    )
    own_log = Path(os.environ.get("SPARK_CONF_DIR", "/nonexistent")) / "log4j2.properties"
    if not own_log.exists():  # quiet at start-up, unless the installation configures its log
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG}"
        )
    if master.startswith("local"):
        # pyspark starts the Python workers with $PYSPARK_PYTHON, else `python3` on the PATH,
        # which may not have vigil; a local master's workers are this interpreter's
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with spark_errors("starting Spark"), quiet_pandas_warning():
        return builder.getOrCreate()


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """pyspark 4 warns at start-up and on every Arrow UDF when pandas is 3.x; vigil passes
    Arrow batches only, never pandas frames, so the warning says nothing to its users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        yield


def check_java() -> None:
    """A VigilError when no Java runtime can start Spark's JVM."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise VigilError(
            "Spark needs a Java runtime (17 or later) and none was found: no `java` on the "
            "PATH and no JAVA_HOME. Install one (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or set JAVA_HOME to its folder."
        )


def read_files(session: SparkSession, path: str) -> DataFrame:
    """A Spark DataFrame over files: Parquet, CSV or TSV with a header, JSON Lines; a glob
    or a folder. The format comes from the extension, as `vigil report` reads files."""
    fmt = _format(path)
    reader = session.read
    with spark_errors(f"reading {path}"):
        if fmt == "parquet":
            return reader.parquet(path)
        if fmt in ("csv", "tsv"):
            return reader.csv(
                path, header=True, inferSchema=True, sep="\t" if fmt == "tsv" else ","
            )
        return reader.json(path)


def _format(path: str) -> str:
    name = path.rstrip("/")
    while name.endswith(("*", "/")):
        name = name.rstrip("*").rstrip("/")
    suffix = Path(name).suffix.lower()
    local = Path(name)
    if not suffix and local.is_dir():  # a folder: the format of the files inside
        suffixes = {p.suffix.lower() for p in local.iterdir() if p.is_file()}
        suffixes &= set(FORMATS)
        suffix = sorted(suffixes)[0] if len(suffixes) == 1 else ""
    fmt = FORMATS.get(suffix)
    if fmt is None or fmt == "ipc":
        raise InputError(
            f"{path}: the Spark engine reads Parquet, CSV, TSV and JSON Lines files, chosen "
            f"by extension (.parquet, .csv, .tsv, .jsonl); name the files so, or read them "
            f"with Spark yourself and call `vigil.spark.evaluate` on the DataFrame."
        )
    return fmt


@contextmanager
def spark_errors(doing: str) -> Iterator[None]:
    """Spark's and Py4J's exceptions as one-line vigil errors, never a JVM stack trace."""
    require_pyspark()
    from py4j.protocol import Py4JError
    from pyspark.errors import AnalysisException, PySparkException

    try:
        yield
    except AnalysisException as err:
        raise InputError(f"{doing}: {_first_line(err)}") from None
    except (PySparkException, Py4JError) as err:
        cause = _python_error(str(err))
        if cause is not None and "No module named 'vigil" in cause:
            raise VigilError(
                f"Spark's Python workers cannot import vigil ({cause}); install it where the "
                f"executors run (`{INSTALL_HINT}`), or point spark.pyspark.python at a Python "
                f"that has it."
            ) from None
        raise RuntimeError(f"Spark failed {doing}: {cause or _first_line(err)}") from None


_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")


def _python_error(text: str) -> str | None:
    """The last `SomeError: message` line of a Python worker's traceback inside Spark's."""
    found = None
    for line in text.splitlines():
        match = _RAISED.match(line.strip())
        if match and not match.group(1).startswith(("org.", "java.", "py4j.")):
            found = f"{match.group(1)}: {match.group(2)}"[:500]
    return found


def _first_line(err: BaseException) -> str:
    for line in str(err).splitlines():
        line = line.strip()
        if line:
            return line[:500]
    return type(err).__name__
