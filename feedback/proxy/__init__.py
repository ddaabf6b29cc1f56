"""The OpenAI-compatible routing proxy: ``/v1/chat/completions`` and ``/v1/models``."""

from feedback.proxy.upstreams import Upstream, UpstreamConfigError, Upstreams

__all__ = ["Upstream", "UpstreamConfigError", "Upstreams"]
