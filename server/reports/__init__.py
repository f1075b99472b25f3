"""The region's reports for government users (issue 14): the monthly credit index."""
