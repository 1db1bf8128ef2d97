"""Import of venue files: readers, declarative mappings, validation, reports, the writer.

Pure modules (readers, mapping, mapping_schema, validate, report) need no database;
``writer`` does the set-based upsert in one transaction; ``runs`` records each import
(who, file digest, counts, report, before-images) and undoes it; ``service`` ties them.
"""
