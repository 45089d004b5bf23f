"""The dashboard: a live web page of the studies in a SQLite file, and the same study page as
one self-contained HTML file. A front end on the public API only."""
