"""The till: the cashier's page and JSON API, checkout, the payment watcher and the print spooler."""
