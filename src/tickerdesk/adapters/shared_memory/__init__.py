"""Tables in shared memory, for the processes of one `tickerdesk up --workers N` on one
machine: token buckets (`rate_limit`), per-user cache generations (`cache`) and the last
prices (`price_book`). No server is needed; `tables` makes and attaches the segments."""
