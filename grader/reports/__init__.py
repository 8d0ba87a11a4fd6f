"""What grading produces: results.json, the terminal table, HTML reports."""
