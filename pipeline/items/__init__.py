"""What one item is: its identity, tickers, companies, relevance, language and scored form."""
