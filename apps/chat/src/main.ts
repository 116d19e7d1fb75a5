import { runService } from '@grpc-patterns/runtime';

runService('chat', () => import('./service.js'));
