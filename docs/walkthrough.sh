#!/usr/bin/env bash
# The README's walk-through: deposit, place, fill, cancel, sell, portfolio.
# Run it against `TICKERDESK_PRICE_WALK_SECONDS=0 make up` (prices move only when told).
# The README shows everything below `set -euo pipefail`: keep the two the same.
set -euo pipefail
TD=${TD:-http://127.0.0.1:8000}
tickerdesk=${TICKERDESK:-.venv/bin/tickerdesk}
ALICE="alice-$(date +%s)-$RANDOM"  # a new alice each run, so every run starts from nothing and shows the same
USER_TOKEN=$($tickerdesk token "$ALICE")
ADMIN_TOKEN=$($tickerdesk token ops --admin)
as_user=(-H "Authorization: Bearer $USER_TOKEN" -H "Content-Type: application/json")
as_admin=(-H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json")
# curl that stops on a refusal and shows its body: the problem+json says why
call() {
  local body
  if ! body=$(curl --fail-with-body -sS "$@"); then
    printf 'refused: %s\n' "$body" >&2
    return 1
  fi
  printf '%s\n' "$body"
}
field() { python3 -c "import json, sys; body = sys.stdin.read(); body and print(json.loads(body)['$1'])"; }
step() { printf '\n== %s\n' "$1"; }

step "1. Fund alice with 10,000"
call -X POST "$TD/admin/deposits" "${as_admin[@]}" -d "{\"userId\": \"$ALICE\", \"amount\": 10000}"

step "2. The simulated market: AAPL at 190"
call -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 190}'

step "3. A limit buy of 10 at 185 rests (pending, 1,850 held)"
TRADE=$(call -X POST "$TD/trade/place" "${as_user[@]}" -H "Idempotency-Key: walk-1" \
  -d '{"stockSymbol": "AAPL", "quantity": 10, "tradeType": "buy", "orderType": "limit", "limitPrice": 185, "timeInForce": "gtc"}' | field tradeId)
call "$TD/trade/$TRADE" "${as_user[@]}" | field status
call "$TD/balance" "${as_user[@]}"

step "4. AAPL falls to 184 with liquidity for 4 shares: a partial fill"
call -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 184, "liquidity": 4}'
call "$TD/trade/$TRADE" "${as_user[@]}"

step "5. Cancel the rest: the fills stay, the rest of the hold comes back"
call -X POST "$TD/trade/$TRADE/cancel" "${as_user[@]}"
sleep 0.2
call "$TD/trade/$TRADE" "${as_user[@]}" | field status
call "$TD/balance" "${as_user[@]}"

step "6. A market buy of 6 at 190 (held at the +5% collar, filled at the market)"
call -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 190}'
call -X POST "$TD/trade/place" "${as_user[@]}" -d '{"stockSymbol": "AAPL", "quantity": 6, "tradeType": "buy", "orderType": "market"}'

step "7. Sell 4 at a limit of 195; AAPL rises to 196 and it fills"
SALE=$(call -X POST "$TD/trade/place" "${as_user[@]}" \
  -d '{"stockSymbol": "AAPL", "quantity": 4, "tradeType": "sell", "orderType": "limit", "limitPrice": 195}' | field tradeId)
call -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 196}'
sleep 0.2
call "$TD/trade/$SALE" "${as_user[@]}" | field status

step "8. Portfolio and balance"
call "$TD/portfolio" "${as_user[@]}"
call "$TD/balance" "${as_user[@]}"
call "$TD/transaction-history" "${as_user[@]}" | python3 -c "import json, sys; [print(t['tradeType'], t['quantity'], t['status'], t['filledQuantity'], t['pricePerShare']) for t in json.load(sys.stdin)['items']]"
