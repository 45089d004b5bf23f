"""Search algorithms (pure, synchronous, numpy only). See ``_base`` for the contract."""
