import { runService } from '@grpc-patterns/runtime';

runService('auth', () => import('./service.js'));
