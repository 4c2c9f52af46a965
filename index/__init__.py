"""The registry store (SQLAlchemy) and the FAISS search index over filed seals."""
