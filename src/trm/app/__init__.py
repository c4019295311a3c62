"""Applications built on the library: ``trm demo`` (this layer may import every other; nothing imports it)."""
