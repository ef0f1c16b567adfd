// Must be imported before the generated code: 64-bit fields (capabilities, flags, sequence
// numbers) then decode as plain numbers rather than Long objects, and their defaults are 0
// rather than a Long (which would be truthy). Every value OpAMP puts there fits in 2^53.
import protobufRuntime from 'protobufjs/minimal';

protobufRuntime.util.Long = undefined as unknown as typeof protobufRuntime.util.Long;
protobufRuntime.configure();
