#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hosts.h"

static tf_provider classify(const tf_hosts *h, const char *hostport)
{
	const char *host;
	size_t hlen;
	int port;

	tf_hosts_split(hostport, strlen(hostport), &host, &hlen, &port);
	return tf_hosts_classify(h, host, hlen, port);
}

Test(hosts, defaults)
{
	cr_expect_eq(classify(NULL, "bedrock-runtime.us-east-1.amazonaws.com"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "bedrock-runtime-fips.us-gov-west-1.amazonaws.com:443"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "bedrock.eu-west-1.amazonaws.com"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "bedrock-agent-runtime.us-west-2.amazonaws.com"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "bedrock-runtime.us-east-1.api.aws"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "vpce-0abc-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(NULL, "myres.openai.azure.com"), TF_PROVIDER_AZURE);
	cr_expect_eq(classify(NULL, "MyRes.OpenAI.Azure.Com."), TF_PROVIDER_AZURE);
	cr_expect_eq(classify(NULL, "x.cognitiveservices.azure.com"), TF_PROVIDER_AZURE);
	cr_expect_eq(classify(NULL, "s3.amazonaws.com"), TF_PROVIDER_NONE);
	cr_expect_eq(classify(NULL, "api.openai.com"), TF_PROVIDER_NONE);
	cr_expect_eq(classify(NULL, "127.0.0.1:8443"), TF_PROVIDER_NONE);
}

Test(hosts, user_rules_first_with_ports)
{
	tf_hosts h = { 0 };
	char err[256];

	cr_assert_eq(tf_hosts_parse_list(&h, "127.0.0.1:8443=bedrock, localhost:8443=azure,"
					     "*.openai.azure.com=none", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(classify(&h, "127.0.0.1:8443"), TF_PROVIDER_BEDROCK);
	cr_expect_eq(classify(&h, "127.0.0.1:9443"), TF_PROVIDER_NONE);
	cr_expect_eq(classify(&h, "localhost:8443"), TF_PROVIDER_AZURE);
	cr_expect_eq(classify(&h, "res.openai.azure.com"), TF_PROVIDER_NONE);
	/* SNI carries no port: a rule with a port still applies. */
	cr_expect_eq(tf_hosts_classify(&h, "localhost", 9, -1), TF_PROVIDER_AZURE);
	tf_hosts_free(&h);
}

Test(hosts, split_forms)
{
	const char *host;
	size_t hlen;
	int port;

	tf_hosts_split("[::1]:443", 9, &host, &hlen, &port);
	cr_expect(hlen == 3 && memcmp(host, "::1", 3) == 0 && port == 443);
	tf_hosts_split("::1", 3, &host, &hlen, &port);
	cr_expect(hlen == 3 && port == -1);
	tf_hosts_split("a:99999", 7, &host, &hlen, &port);
	cr_expect(hlen == 1 && port == -1);
}

Test(hosts, bad_rules_name_the_item)
{
	tf_hosts h = { 0 };
	char err[256];

	cr_expect_eq(tf_hosts_parse_list(&h, "good=azure,oops", err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "oops") != NULL, "%s", err);
	cr_expect_eq(tf_hosts_parse_list(&h, "x=gcp", err, sizeof(err)), -EINVAL);
	tf_hosts_free(&h);
}
