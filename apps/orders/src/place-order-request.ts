/**
 * A PlaceOrderRequest after the rules (validation.ts): the server-side total and the request
 * fingerprint that tells a retry (same key, same request) from a reused key (same key,
 * different request). The rules themselves live in validation.ts only.
 */
import { createHash } from 'node:crypto';
import type { ParsedPlaceOrder } from './validation.js';

/** A PlaceOrderRequest that passed the rules, with its total and fingerprint. */
export interface ValidPlaceOrder extends ParsedPlaceOrder {
  /** Σ quantity × unit_price_cents, cents (≤ 100 × 1000 × 10^8 = 10^13, exact in int64). */
  totalCents: bigint;
  /** See {@link requestFingerprint}. */
  fingerprint: string;
}

/** Adds the total (BigInt cents) and the fingerprint to a parsed request. */
export function normalizePlaceOrder(parsed: ParsedPlaceOrder): ValidPlaceOrder {
  return {
    ...parsed,
    totalCents: parsed.items.reduce((sum, item) => sum + BigInt(item.quantity) * item.unitPriceCents, 0n),
    fingerprint: requestFingerprint(parsed),
  };
}

/**
 * SHA-256 (hex) of the canonical, versioned encoding of a normalized request; changing the encoding needs a new
 * version tag (README "Explanation: The fingerprint").
 */
export function requestFingerprint(order: Pick<ValidPlaceOrder, 'userId' | 'items' | 'currency'>): string {
  const canonical = JSON.stringify([
    'orders.v1.PlaceOrderRequest/1',
    order.userId,
    order.currency,
    order.items.map((item) => [item.sku, item.quantity, item.unitPriceCents.toString()]),
  ]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
