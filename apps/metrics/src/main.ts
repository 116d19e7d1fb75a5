import { runService } from '@grpc-patterns/runtime';

runService('metrics', () => import('./service.js'));
