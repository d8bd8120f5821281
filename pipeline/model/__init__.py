"""The book model: the sources, their sentences, the input problems and the contracts between stages."""
