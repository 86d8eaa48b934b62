"""The node's TURN relay: coturn (Debian's ``turnserver``), started and stopped
with ``redline serve`` when ``turn_enabled`` is set (docs/calls.md).

coturn authenticates with the TURN REST API's shared secret
(``use-auth-secret``, ``static-auth-secret``): the node issues its signed-in
operators short-lived credentials (:func:`redline.service.media.turn_rest_credentials`)
and coturn checks them with the same secret, so coturn holds no user list.
The secret is written to a configuration file readable by the node's user
only, never put on a command line (which every local user can read).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from redline.core.errors import ConfigError
from redline.node import NodeConfig
from redline.service.media import TurnSettings

__all__ = ["TURNSERVER", "TurnRelay", "turn_settings"]

log = logging.getLogger(__name__)

#: Debian's coturn.
TURNSERVER = "turnserver"
#: How long coturn may take to listen, and to stop before it is killed.
START_SECONDS = 10.0
STOP_SECONDS = 5.0


def turn_settings(config: NodeConfig) -> TurnSettings | None:
    """The TURN relay the node's browsers are given, or None when it is off.

    Raises:
        ConfigError: ``turn_enabled`` without a ``turn_secret``.
    """
    if not config.turn_enabled:
        return None
    if not config.turn_secret:
        raise ConfigError("a TURN relay needs a shared secret", field="turn_secret")
    return TurnSettings(
        host=config.turn_host,
        port=config.turn_port,
        realm=config.turn_realm or f"{config.party}.redline",
        secret=config.turn_secret,
        relay_only=config.turn_relay_only,
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class TurnRelay:
    """One coturn process for a node directory ``path``."""

    def __init__(self, settings: TurnSettings, path: Path, *, binary: str = TURNSERVER) -> None:
        self.settings = settings
        self.dir = path / "turn"
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        """coturn's configuration for these settings. Raises nothing."""
        s = self.settings
        lines = [
            f"listening-ip={s.host}",
            f"relay-ip={s.host}",
            f"listening-port={s.port}",
            f"realm={s.realm}",
            "use-auth-secret",
            f"static-auth-secret={s.secret}",
            "fingerprint",
            "no-tls",
            "no-dtls",
            "no-cli",
            "no-multicast-peers",
            f"pidfile={self.dir / 'turnserver.pid'}",
            f"log-file={self.dir / 'turnserver.log'}",
            "simple-log",
            "no-stdout-log",
            f"userdb={self.dir / 'turndb'}",
        ]
        # Two browsers on one machine (the tests, a demo) relay to loopback
        # addresses, which coturn refuses unless told; a relay on a real
        # address never needs it.
        if _loopback(s.host):
            lines.append("allow-loopback-peers")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Write the configuration (mode 0600) and start coturn; return once it listens.

        Raises:
            ConfigError: ``turnserver`` is not installed, exits, or does not
                listen within :data:`START_SECONDS`.
        """
        binary = shutil.which(self.binary)
        if binary is None:
            raise ConfigError(
                f"{self.binary} not found: install coturn (Debian: apt-get install coturn)",
                field="turn_enabled",
            )
        self.dir.mkdir(mode=0o700, exist_ok=True)
        conf = self.dir / "turnserver.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.config_text())
        self.process = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"turnserver exited with {self.process.returncode}; see "
                    f"{self.dir / 'turnserver.log'}",
                    field="turn_enabled",
                )
            address = (self.settings.host, self.settings.port)
            try:
                with socket.create_connection(address, 0.5):
                    log.info("TURN relay listening on %s:%d", *address)
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ConfigError(
            f"turnserver did not listen on {self.settings.host}:{self.settings.port} "
            f"within {START_SECONDS:.0f} s",
            field="turn_port",
        )

    def stop(self) -> None:
        """Stop coturn (SIGTERM, then SIGKILL after :data:`STOP_SECONDS`). Raises nothing."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)
