import { runService } from '@grpc-patterns/runtime';

runService('analytics', () => import('./service.js'));
