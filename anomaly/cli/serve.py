"""`anomaly dashboard` (the Streamlit server) and `anomaly demo` (the sample end to end)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from anomaly.cli.app import app, echo, models_dir
from anomaly.cli.options import NewWorkspace, Workspace
from anomaly.errors import InputError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ALLOWED_HOSTS_ENV = "ANOMALY_ALLOWED_HOSTS"  # read by dashboards/serve.py


def allowed_hosts(address: str) -> str:
    """Host names the server answers to (its `Host` header check against DNS rebinding):
    the loopback names for a loopback address, the address itself otherwise; '*' (any) when it
    listens on every interface, where the names it is reached by cannot be known."""
    if address in ("0.0.0.0", "::"):
        return "*"
    return ",".join(LOOPBACK if address in LOOPBACK else (address,))


def check_port_free(address: str, port: int) -> None:
    """`InputError` (exit 2) when another program already listens on the port."""
    import socket

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen on {address}:{port} "
                             f"({exc.strerror}) — another program uses it; pass another --port"
                             ) from exc


def die_with_parent() -> None:
    """In the Streamlit child (Linux): the kernel sends it SIGTERM when `anomaly dashboard`
    dies, even by `kill -9`, so no server is left listening without its owner."""
    import ctypes
    import signal

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command(epilog="Example: anomaly dashboard --workspace . --port 8501")
def dashboard(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the "
                                              "dashboard to the network.")] = "127.0.0.1",
    workspace: Workspace = Path(),
) -> None:
    """Open the Streamlit dashboard: anomalies, training curves, threshold tuning, monitoring."""
    import subprocess

    from anomaly.analysis.workspace import UPLOAD_LIMIT_MB, resolve_workspace

    ws = resolve_workspace(workspace)
    root = Path(__file__).resolve().parents[2]
    app_file = root / "dashboards" / "app.py"
    if not app_file.exists():
        raise InputError(f"{app_file}: dashboard app not found — run from a source checkout of "
                         "anomaly (the dashboards/ folder ships with the repository)")
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: use a port between 1 and 65535")
    if address not in LOOPBACK:
        typer.echo(f"warning: listening on {address}: anyone who can reach this machine can see "
                   "the workspace's data and change thresholds — there is no login", err=True)
    check_port_free(address, port)
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    echo(f"dashboard for workspace {ws}: http://{host}:{port}  (Ctrl-C stops it)")
    env = {**os.environ, "ANOMALY_WORKSPACE": str(ws), ALLOWED_HOSTS_ENV: allowed_hosts(address),
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [sys.executable, str(app_file.with_name("serve.py")), "run", str(app_file),
               "--server.headless", "true", "--server.port", str(port),
               "--server.address", address, "--browser.gatherUsageStats", "false",
               "--server.enableXsrfProtection", "true",
               "--server.maxUploadSize", str(UPLOAD_LIMIT_MB),
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]
    import signal

    child = subprocess.Popen(command, cwd=ws, env=env, stdin=subprocess.DEVNULL,
                             preexec_fn=die_with_parent)

    def stop(signum: int, frame: Any) -> None:  # SIGTERM to us stops the server too
        child.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        child.terminate()
        code = child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130):
        sys.exit(1)


# ---------------------------------------------------------------------------- demo
@app.command(epilog="Example: anomaly demo --workspace /tmp/anomaly-demo")
def demo(workspace: NewWorkspace = Path(),
         data_dir: Annotated[Path, typer.Option(help="Folder of the sample data.")] = Path("data"),
         epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 60) -> None:
    """Train on the bundled transactions sample, score its labelled test file, show the flags."""
    from anomaly.cli.score import evaluate, score
    from anomaly.cli.train import report
    from anomaly.config import Settings, override
    from anomaly.jobs.train import train_model

    train_file, test_file = data_dir / "transactions_train.csv", data_dir / "transactions_test.csv"
    if not train_file.exists():
        raise InputError(f"{train_file}: sample data not found — run `python data/generate.py`")
    settings = override(Settings(), "data", id_col=("transaction_id",), time_col="timestamp")
    settings = override(settings, "training", max_epochs=epochs, progress_bar=False)
    trained = train_model([train_file], settings, models_dir(workspace), "transactions")
    if trained is not None:
        report(trained)
    score("transactions", [test_file], output=None, threshold=None, on_bad_rows=None, show=10,
          workspace=workspace)
    evaluate("transactions", test_file, label_col="label", as_json=False, workspace=workspace)
