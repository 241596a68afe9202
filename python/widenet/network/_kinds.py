"""The networks, as one type: what the dynamics and the kernels accept wherever a network goes."""

from __future__ import annotations

from typing import Union

from widenet.network.deep import Network
from widenet.network.shallow import ShallowNetwork

AnyNetwork = Union[ShallowNetwork, Network]
"""A shallow network or a network of any depth (the same interface)."""

NETWORK_CLASSES = (ShallowNetwork, Network)
