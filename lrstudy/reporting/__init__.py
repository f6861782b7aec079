"""Reporting: the test-split evaluation, the report's figures and table, the verdict sentences
and the measures and number formats they share."""
