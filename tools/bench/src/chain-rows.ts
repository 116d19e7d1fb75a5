/** Row names of the chain scenario shared by the chain process and the bench (no side effects: chain-server.ts starts servers when loaded). */

/** The row of startServer() with as many pass-through layers as the chain has: what layering alone costs. */
export const PASS_THROUGH_ROW = 'pass-through layers';
