import { runService } from '@grpc-patterns/runtime';

runService('orders', () => import('./service.js'));
