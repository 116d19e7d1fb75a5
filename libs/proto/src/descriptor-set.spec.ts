import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { authV1, descriptorSetBase64, ordersV1 } from './index.js';

describe('generated code', () => {
  it('embeds a descriptor set with all five services and health, for server reflection', () => {
    const definition = loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSetBase64, 'base64'));
    const services = Object.keys(definition).filter((name) => 'format' in definition[name] === false);
    expect(services.sort()).toEqual([
      'analytics.v1.AnalyticsService',
      'auth.v1.AuthService',
      'chat.v1.ChatService',
      'grpc.health.v1.Health',
      'metrics.v1.MetricsService',
      'orders.v1.OrderService',
    ]);
  });

  it('round-trips a message with int64 as string and optional sub-messages', () => {
    const item = { sku: 'SKU-1', quantity: 2, unitPriceCents: '1999' };
    const bytes = ordersV1.PlaceOrderRequest.encode({ requestId: 'r-12345678', userId: 'u', items: [item], currency: 'USD' }).finish();
    expect(ordersV1.PlaceOrderRequest.decode(bytes).items).toEqual([item]);
    expect(authV1.GetUserResponse.decode(new Uint8Array()).user).toBeUndefined();
  });
});
