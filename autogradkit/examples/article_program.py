# The source article's training example, exactly as written there, with only its three import
# lines changed to use autogradkit. (The comments are the article's own, in Chinese: "define a
# simple neural network", "forward pass", "compute the loss", "backward pass", "update the
# weights and biases", "clear the gradients".) tests/test_article.py runs this very file.
import autogradkit as torch
import autogradkit.nn as nn
import autogradkit.optim as optim

# 定义一个简单的神经网络
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(10, 20)
        self.fc2 = nn.Linear(20, 1)

    def forward(self, x):
        x = self.fc1(x)
        x = torch.relu(x)
        x = self.fc2(x)
        return x

# 创建一个神经网络实例
net = Net()

# 定义损失函数和优化器
criterion = nn.MSELoss()
optimizer = optim.SGD(net.parameters(), lr=0.01)

# 准备训练数据
x = torch.randn(100, 10)
y = torch.randn(100, 1)

# 训练神经网络
for epoch in range(1000):
    # 前向传播
    y_pred = net(x)

    # 计算损失值
    loss = criterion(y_pred, y)

    # 反向传播
    loss.backward()

    # 更新神经网络中的权重和偏置
    optimizer.step()

    # 清空梯度
    optimizer.zero_grad()
