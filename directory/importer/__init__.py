"""Import of venue files: readers, declarative mappings, validation, reports, the writer.

Pure modules (readers, mapping, validate, report) need neither Flask nor the database;
``writer`` does the set-based upsert in one transaction.
"""
