/** The well-known types the other protos use. */
export { Any } from './gen/google/protobuf/any.js';
export { Duration } from './gen/google/protobuf/duration.js';
export { Timestamp } from './gen/google/protobuf/timestamp.js';
