"""The annual credit-index report (issue 14): its figures from stored data, its charts and the PDF."""
