"""pytest plumbing of the fault suite (test_faults.py) and the bad-input suite (test_bad_input.py).

Both drive the real `otel-bridge` binary against the test stack of scripts/stack.sh (start it and
`source .stack/env` first; scripts/test.sh and scripts/fault-suite.sh do). Options:

    --binary PATH   the binary (default .build/debug/otel-bridge)
    --seed N        seed of the fault scenarios' data and fault timing (default: random, printed in
                    the header; every seed must pass)
    --full          the fault scenarios at full size (longer backfills, more kills); default: quick sizes
    --keep          keep every case's ClickHouse and Postgres databases (a failed case's are always kept)

Selection is pytest's own: `-m quick` the quick set (CI), `-k NAME` a scenario or case by name.
At the end each suite prints its result table (pytest_terminal_summary), then pytest its closing line.
"""
import os
import random
import tempfile
from pathlib import Path

import pytest

from harness import ROOT, Services, SuiteError

RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("otel-bridge suites")
    group.addoption("--binary", default=str(ROOT / ".build" / "debug" / "otel-bridge"),
                    help="the otel-bridge binary to drive (default .build/debug/otel-bridge)")
    group.addoption("--seed", type=int, default=None,
                    help="seed of the fault scenarios' data and fault timing (default: random, printed)")
    group.addoption("--full", action="store_true",
                    help="fault scenarios at full size (longer backfills, more kills); default: the quick sizes")
    group.addoption("--keep", action="store_true",
                    help="keep every case's databases (those of a failed case are always kept)")


def pytest_configure(config):
    if config.getoption("seed") is None:
        config.option.seed = random.SystemRandom().randrange(1_000_000)
    config.stash[RESULTS] = {}


def pytest_report_header(config):
    return [f"otel-bridge suites: seed {config.getoption('seed')}, "
            f"{'full' if config.getoption('full') else 'quick'} fault sizes, binary {config.getoption('binary')}"]


# ----------------------------------------------------------------------------------------------
# fixtures: the stack, the binary, the seed, the logs, the result tables

@pytest.fixture(scope="session")
def services():
    """The test stack (TEST_POSTGRES_URL, TEST_CLICKHOUSE_URL, TEST_OTLP_URL), checked to answer."""
    try:
        return Services.from_environment()
    except SuiteError as e:
        problem = str(e)
    pytest.fail(f"the suite cannot run: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def binary(pytestconfig):
    path = Path(pytestconfig.getoption("binary")).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"no executable {path} (swift build --product otel-bridge, or --binary PATH)", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def seed(pytestconfig):
    return pytestconfig.getoption("seed")


@pytest.fixture(scope="session")
def keep(pytestconfig):
    return pytestconfig.getoption("keep")


@pytest.fixture(scope="session")
def log_root():
    """.stack/logs/ of the stack when it is up (STACK_LOG_DIR), else a new temporary folder."""
    base = os.environ.get("STACK_LOG_DIR")
    return Path(base) if base else Path(tempfile.mkdtemp(prefix="otel-bridge-suites."))


@pytest.fixture(scope="session")
def result_table(pytestconfig):
    """result_table(title, render) -> a list: append each case's result dict to it; at the end the
    terminal summary prints `render(results)` under `title`."""
    tables = pytestconfig.stash[RESULTS]

    def table(title, render):
        return tables.setdefault(title, (render, []))[1]
    return table


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for title, (render, results) in config.stash[RESULTS].items():
        if results:
            terminalreporter.section(title)
            terminalreporter.write_line(render(results, config))
