"""The README's `nameko shell` session, run against the e2e cluster."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_nameko_shell_reaches_products(cluster, cluster_env):
    nameko = Path(sys.executable).parent / "nameko"
    session = "print('stock:', n.rpc.products.get_product(1)['stock'] >= 0)\n"
    result = subprocess.run(
        [str(nameko), "shell", "--config", "products/config.yaml"],
        input=session,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cluster_env,
        timeout=60,
    )
    assert "stock: True" in result.stdout, result.stdout + result.stderr
