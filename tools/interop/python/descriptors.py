"""Message classes at run time from a FileDescriptorSet (`buf build --as-file-descriptor-set`),
shared by the interop scripts: Debian's protoc (grpc_tools, libprotoc 3.5.1) generates code that
protobuf 4.x refuses to load, while the descriptor pool accepts descriptors from any protoc."""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def load_pool(path, extra_files=()):
    """A fresh DescriptorPool with every file of the set at `path` (dependencies first, as buf
    writes them), then `extra_files` (FileDescriptorProto)."""
    with open(path, "rb") as f:
        files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in list(files.file) + list(extra_files):
        pool.Add(file)
    return pool


def message_class(pool, name):
    """The message class of the full name `name` ("chat.v1.ChatRequest") in `pool`."""
    descriptor = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)
