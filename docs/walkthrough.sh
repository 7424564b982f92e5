#!/usr/bin/env bash
# The README's walk-through: deposit, place, fill, cancel, sell, portfolio.
# Run it against `TICKERDESK_PRICE_WALK_SECONDS=0 make up` (prices move only when told).
set -euo pipefail
TD=${TD:-http://127.0.0.1:8000}
tickerdesk=${TICKERDESK:-.venv/bin/tickerdesk}
USER_TOKEN=$($tickerdesk token alice)
ADMIN_TOKEN=$($tickerdesk token ops --admin)
as_user=(-H "Authorization: Bearer $USER_TOKEN" -H "Content-Type: application/json")
as_admin=(-H "Authorization: Bearer $ADMIN_TOKEN" -H "Content-Type: application/json")
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
step() { printf '\n\n== %s\n' "$1"; }

step "1. Fund alice with 10,000"
curl -sf -X POST "$TD/admin/deposits" "${as_admin[@]}" -d '{"userId": "alice", "amount": 10000}'

step "2. The simulated market: AAPL at 190"
curl -sf -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 190}'

step "3. A limit buy of 10 at 185 rests (pending, 1,850 held)"
TRADE=$(curl -sf -X POST "$TD/trade/place" "${as_user[@]}" -H "Idempotency-Key: walk-1" \
  -d '{"stockSymbol": "AAPL", "quantity": 10, "tradeType": "buy", "orderType": "limit", "limitPrice": 185, "timeInForce": "gtc"}' | field tradeId)
curl -sf "$TD/balance" "${as_user[@]}"

step "4. AAPL falls to 184 with liquidity for 4 shares: a partial fill"
curl -sf -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 184, "liquidity": 4}'
curl -sf "$TD/trade/$TRADE" "${as_user[@]}"

step "5. Cancel the rest: the fills stay, the rest of the hold comes back"
curl -sf -X POST "$TD/trade/$TRADE/cancel" "${as_user[@]}"
sleep 0.2
curl -sf "$TD/trade/$TRADE" "${as_user[@]}" | field status
curl -sf "$TD/balance" "${as_user[@]}"

step "6. A market buy of 6 at 190 (held at the +5% collar, filled at the market)"
curl -sf -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 190}'
curl -sf -X POST "$TD/trade/place" "${as_user[@]}" -d '{"stockSymbol": "AAPL", "quantity": 6, "tradeType": "buy", "orderType": "market"}'

step "7. Sell 4 at a limit of 195; AAPL rises to 196 and it fills"
SALE=$(curl -sf -X POST "$TD/trade/place" "${as_user[@]}" \
  -d '{"stockSymbol": "AAPL", "quantity": 4, "tradeType": "sell", "orderType": "limit", "limitPrice": 195}' | field tradeId)
curl -sf -X PUT "$TD/sim/stocks/AAPL" "${as_admin[@]}" -d '{"price": 196}'
sleep 0.2
curl -sf "$TD/trade/$SALE" "${as_user[@]}" | field status

step "8. Portfolio and balance"
curl -sf "$TD/portfolio" "${as_user[@]}"
echo
curl -sf "$TD/balance" "${as_user[@]}"
echo
curl -sf "$TD/transaction-history" "${as_user[@]}" | python3 -c "import json, sys; [print(t['tradeType'], t['quantity'], t['status'], t['filledQuantity'], t['pricePerShare']) for t in json.load(sys.stdin)['items']]"
