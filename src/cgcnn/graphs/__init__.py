"""Crystals → graphs: element feature tables, neighbour lists, parallel building, the graph store, batches."""

from .featurize import featurize, graph_store
from .graph import CrystalGraph, build_graph

__all__ = ["CrystalGraph", "build_graph", "featurize", "graph_store"]
