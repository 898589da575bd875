"""Class mode: classes, learners, their digits and models, kept in a SQL database.

``database`` opens the database (SQLite file or PostgreSQL) and keeps its schema current;
``tables`` is the schema; ``classes`` holds what teachers and learners do; ``caps`` the limits.
No streamlit here: the Class page (``mnistkit.ui.classroom``) and the command line
(``mnistkit class ...``) both call these functions.
"""
