"""`network` on a computer: a simulated interface over the host's own network
(docs/guide/device-apps.md). `WLAN(STA_IF).active(True)` then reports connected at once, so device
start-up loops (`while not wlan.isconnected(): ...`) end immediately."""
from __future__ import annotations

import socket as _socket
import uuid as _uuid
from typing import Any, Dict, List, Optional, Tuple

STA_IF, AP_IF = 0, 1
STAT_IDLE, STAT_CONNECTING, STAT_WRONG_PASSWORD = 1000, 1001, 202
STAT_NO_AP_FOUND, STAT_CONNECT_FAIL, STAT_GOT_IP = 201, 203, 1010
PM_NONE, PM_PERFORMANCE, PM_POWERSAVE = 0, 1, 2
AUTH_OPEN, AUTH_WEP, AUTH_WPA_PSK, AUTH_WPA2_PSK, AUTH_WPA_WPA2_PSK = 0, 1, 2, 3, 4


def _primary_ip() -> str:
    """The address the host would use to reach the outside (no packet is sent)."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def _dns() -> str:
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1]
    except OSError:
        pass
    return "0.0.0.0"


class WLAN:
    def __init__(self, interface: int = STA_IF) -> None:
        self.interface = interface
        self._active = False
        self._config: Dict[str, Any] = {"pm": PM_NONE, "essid": _socket.gethostname(), "dhcp_hostname":
                              _socket.gethostname(), "channel": 1, "hidden": False}

    def active(self, flag: Optional[bool] = None) -> Optional[bool]:
        if flag is None:
            return self._active
        self._active = bool(flag)
        return None

    def connect(self, ssid: Optional[str] = None, *_args: Any, **_kw: Any) -> None:
        self._active = True
        if ssid is not None:
            self._config["essid"] = ssid

    def disconnect(self) -> None:
        """The host's network stays up; the simulated link stays connected while active."""

    def isconnected(self) -> bool:
        return self._active

    def status(self, *_args: Any) -> int:
        return STAT_GOT_IP if self._active else STAT_IDLE

    def ifconfig(self, _config: Optional[Tuple[str, str, str, str]] = None) -> Any:
        if _config is not None:
            return None
        ip = _primary_ip()
        gateway = ip.rsplit(".", 1)[0] + ".1" if ip.count(".") == 3 else "0.0.0.0"
        return (ip, "255.255.255.0", gateway, _dns())

    def scan(self) -> List[Tuple[Any, ...]]:
        return []

    def config(self, *args: str, **kw: Any) -> Any:
        if kw:
            self._config.update(kw)
            return None
        if len(args) == 1:
            key = args[0]
            if key == "mac":
                return _uuid.getnode().to_bytes(6, "big")
            if key not in self._config:
                raise ValueError("unknown config param")
            return self._config[key]
        return None


LAN = WLAN


def hostname(name: Optional[str] = None) -> Optional[str]:
    return _socket.gethostname() if name is None else None


def country(_code: Optional[str] = None) -> str:
    return "XX"
