"""The foundation's identity flow, driven by boto3 (Debian's python3-boto3). Run by TestBoto3IdentityFlow with
the endpoint as its argument; prints OK when every step behaved as on AWS, else raises."""
import json
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]


def client(service, akid="test", secret="test", token=None, **kw):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}, **kw),
    )


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, "want %s, got %s: %s" % (code, got, e)
        return e
    raise AssertionError("want %s, call succeeded" % code)


sts = client("sts")
ident = sts.get_caller_identity()
assert ident["Arn"] == "arn:aws:iam::000000000000:root", ident
assert ident["Account"] == "000000000000", ident

iam = client("iam")
iam.create_user(UserName="dev")
key = iam.create_access_key(UserName="dev")["AccessKey"]
iam.attach_user_policy(UserName="dev", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
users = iam.list_users()["Users"]
assert [u["UserName"] for u in users] == ["dev"], users
expect_error("NoSuchEntity", iam.get_user, UserName="nobody")

s3 = client("s3")
s3.create_bucket(Bucket="bkt")
s3.put_object(Bucket="bkt", Key="k", Body=b"hello from boto3")
assert s3.get_object(Bucket="bkt", Key="k")["Body"].read() == b"hello from boto3"

# A presigned URL (boto3's default signature for S3 presigning) fetches the object without any client.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=300)
with urllib.request.urlopen(url) as resp:
    assert resp.read() == b"hello from boto3"

dev_s3 = client("s3", key["AccessKeyId"], key["SecretAccessKey"])
names = [b["Name"] for b in dev_s3.list_buckets()["Buckets"]]
assert names == ["bkt"], names
assert dev_s3.get_object(Bucket="bkt", Key="k")["Body"].read() == b"hello from boto3"
expect_error("AccessDenied", dev_s3.create_bucket, Bucket="c")
expect_error("AccessDenied", dev_s3.delete_object, Bucket="bkt", Key="k")
expect_error("AccessDenied", client("iam", key["AccessKeyId"], key["SecretAccessKey"]).create_user, UserName="eve")

iam.create_user(UserName="ops")
iam.put_user_policy(UserName="ops", PolicyName="all-but-delete", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    ],
}))
ops_key = iam.create_access_key(UserName="ops")["AccessKey"]
ops_s3 = client("s3", ops_key["AccessKeyId"], ops_key["SecretAccessKey"])
ops_s3.put_object(Bucket="bkt", Key="ops.txt", Body=b"x")
err = expect_error("AccessDenied", ops_s3.delete_object, Bucket="bkt", Key="ops.txt")
assert "explicit deny" in str(err), err

expect_error("SignatureDoesNotMatch", client("sts", key["AccessKeyId"], "x" * 40).get_caller_identity)

iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}],
}))
creds = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/reader", RoleSessionName="s1", DurationSeconds=900)["Credentials"]
session = client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
assert session.get_caller_identity()["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/s1"
urllib.request.urlopen(urllib.request.Request(endpoint + "/_overcast/clock?advance=16m", method="POST")).read()
expect_error("ExpiredToken", session.get_caller_identity)
print("OK")
