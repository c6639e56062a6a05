"""Ray as marlbench's engine for distributed MADDPG: start a local Ray, or join a running cluster.

Paper 000 (sec. IV, Fig. 5) runs its distributed MADDPG on Ray; DESIGN.md ("Scale") makes Ray the
only engine past one process. :class:`RayRuntime` owns the choice:

* no address: start a private local Ray with ``num_cpus`` = the cores this run may use, no
  dashboard, bound to 127.0.0.1, its session files (logs, sockets, spilled objects) under
  ``$MARLBENCH_CACHE/ray`` (default ``~/.cache/marlbench/ray``) instead of Ray's ``/tmp/ray``, and
  token authentication with a fresh in-memory token (so Ray writes no ``~/.ray/auth_token``). It is
  shut down at the end, on errors and on Ctrl-C (:meth:`RayRuntime.stop` runs from ``finally``).
* an address (``--ray-address``, or ``RAY_ADDRESS``): connect, never shut the cluster down. An
  address that does not answer is refused at once with a :class:`~marlbench.errors.ConfigError`.
* a Ray this process already started (tests, notebooks): reuse it and leave it running.

Unix sockets: Ray binds ``<temp>/session_<date>_<pid>/sockets/{plasma_store,raylet}`` and a
socket path is limited to 107 bytes, so the temp dir must stay short (about 50 characters). When
``$MARLBENCH_CACHE`` is deeper than that, the session goes to a private directory made with
:func:`tempfile.mkdtemp` (``/tmp/mb-ray-*``), removed again at :meth:`RayRuntime.stop`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from marlbench.errors import ConfigError
from marlbench.paths import cache_root

INSTALL_FIX = 'install it with: pip install "marlbench[ray]"'
MAX_TEMP_DIR_CHARS = 50
"""Longest temp dir that keeps Ray's session socket paths under the 107-byte Unix limit."""
OBJECT_STORE_BYTES = 256 * 1024 * 1024
"""Object store of a local Ray: mini-batches and weights are small, the machine's memory is shared."""
CONNECT_TIMEOUT_S = 3.0


def import_ray() -> Any:
    """``ray``, or ConfigError naming the install command when it is missing."""
    try:
        import ray
    except ImportError:
        raise ConfigError("distributed training needs Ray, which is not installed", INSTALL_FIX) from None
    return ray


def address_from_env(explicit: str | None = None) -> str:
    """The cluster address to join: ``explicit``, else ``$RAY_ADDRESS``, else '' (start a local Ray)."""
    return (explicit or os.environ.get("RAY_ADDRESS", "")).strip()


def check_address(address: str) -> None:
    """Raise ConfigError unless something listens at ``address`` (``host:port`` or ``ray://host:port``).

    ``auto`` (Ray's own lookup of a cluster started on this machine) is left to Ray.
    """
    if not address or address == "auto":
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    fix = "start the cluster (ray start --head) or check --ray-address / RAY_ADDRESS"
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(f"Ray address '{address}' is not host:port or ray://host:port", fix)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ConfigError(f"no Ray cluster answers at '{address}' ({err.strerror or err})", fix) from None


def _reload_auth_settings() -> None:
    """Make an already imported Ray re-read ``RAY_AUTH_MODE`` / ``RAY_AUTH_TOKEN`` (it caches them at
    import; Ray's own ``ray.init`` does the same refresh when it enables token mode)."""
    with contextlib.suppress(Exception):
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def local_cpus() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class RayRuntime:
    """Start or join Ray for one run (see the module docstring); use as a context manager or call
    :meth:`start` / :meth:`stop`. ``kind`` is ``local`` or ``cluster``."""

    def __init__(self, address: str = "", num_cpus: int | None = None) -> None:
        self.address = address
        self.kind = "cluster" if address else "local"
        self.num_cpus = num_cpus
        self.owned = False
        self.temp_dir: Path | None = None
        self._private_temp = False
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> RayRuntime:
        ray = import_ray()
        if ray.is_initialized():
            return self
        if self.address:
            check_address(self.address)
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError) as err:
                raise ConfigError(
                    f"cannot join the Ray cluster at '{self.address}': {err}",
                    "check --ray-address / RAY_ADDRESS and that its Ray version matches",
                ) from None
            return self
        self._make_temp_dir()
        # a fresh token for this private cluster, in the environment its processes inherit
        for key, value in (("RAY_AUTH_MODE", "token"), ("RAY_AUTH_TOKEN", secrets.token_hex(16))):
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        _reload_auth_settings()
        try:
            ray.init(
                address="local",
                num_cpus=self.num_cpus or local_cpus(),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                object_store_memory=OBJECT_STORE_BYTES,
                _node_ip_address="127.0.0.1",
                _temp_dir=str(self.temp_dir),
            )
        except BaseException:
            self._restore()
            raise
        self.owned = True
        return self

    def _make_temp_dir(self) -> Path:
        wanted = cache_root() / "ray"
        if len(str(wanted.absolute())) <= MAX_TEMP_DIR_CHARS:
            wanted.mkdir(parents=True, exist_ok=True)
            self.temp_dir = wanted.absolute()
        else:
            self._private_temp = True
            self.temp_dir = Path(tempfile.mkdtemp(prefix="mb-ray-"))
        return self.temp_dir

    def stop(self) -> None:
        """Shut down the local Ray this runtime started (a joined cluster is left running)."""
        if not self.owned:
            return
        ray = import_ray()
        try:
            with contextlib.suppress(Exception):
                ray.shutdown()
        finally:
            self.owned = False
            self._restore()

    def _restore(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        _reload_auth_settings()
        if self._private_temp and self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
