"""The watch-floor console, mounted at ``/console`` on the operator API's listener."""

from __future__ import annotations

import threading
from functools import cached_property

from fastapi import FastAPI

from redline.service.hotline import HotlineService
from redline.service.live import Broadcaster
from redline.service.node import NodeService
from redline.service.operators import API_KEY_PREFIX, OperatorService
from redline.service.translation import TranslationService
from redline.web.console.app import PUBLIC_PATHS, create_console

__all__ = ["PUBLIC_PATHS", "Console"]


class Console:
    """The console's parts over one node's service, built when first used (so
    building the API app touches no database)."""

    def __init__(self, service: NodeService, *, translation_model_dir: str = "") -> None:
        self.service = service
        self.translation_model_dir = translation_model_dir
        self._lock = threading.Lock()
        self._live: Broadcaster | None = None

    @cached_property
    def operators(self) -> OperatorService:
        """The node's operators. Raises nothing."""
        return OperatorService(self.service.store, clock=self.service.clock)

    @cached_property
    def translations(self) -> TranslationService:
        """Translations and glossaries, with the node's model directory (built on
        first use: its hooks index what is stored from then on). Raises nothing."""
        return TranslationService(self.service, model_dir=self.translation_model_dir)

    @property
    def live(self) -> Broadcaster:
        """The broadcaster of what the node stores, attached to it on first use
        (before that no console listened, so nothing was missed). Raises nothing."""
        with self._lock:
            if self._live is None:
                self._live = Broadcaster()
                self._live.attach(self.service)
            return self._live

    def key_ok(self, key: str, *, client: str, count: bool = True) -> bool:
        """Whether ``key`` is an operator's named API key (see
        :meth:`OperatorService.key_operator`; call it off the event loop).

        Raises :class:`~redline.service.operators.Throttled` after too many
        unknown keys from ``client``.
        """
        if not key.startswith(API_KEY_PREFIX):
            return False
        return self.operators.key_operator(key, client=client, count=count) is not None

    def mount(self, app: FastAPI, *, hotline: HotlineService) -> None:
        """Serve the console under ``/console`` of ``app``. Raises nothing."""
        app.mount("/console", create_console(self, hotline=hotline), name="console")
